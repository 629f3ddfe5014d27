/* Crashes before its first guess: the interactor rejects after it, so this is RTE. */
#include <stdio.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 1;
    int *p = 0;
    return *p;
}

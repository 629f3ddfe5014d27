/* Guesses out of range: the interactor rejects (first), then this crashes on the EOF. */
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 1;
    printf("0\n");
    fflush(stdout);
    char r[4];
    if (scanf("%3s", r) != 1) abort();
    return 0;
}

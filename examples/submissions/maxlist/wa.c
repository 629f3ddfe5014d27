#include <stdio.h>
int main(void) { int n; long long x, first = 0; scanf("%d", &n); scanf("%lld", &first); printf("%lld\n", first); return 0; }

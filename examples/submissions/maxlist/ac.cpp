#include <cstdio>
#include <climits>
int main() { int n; if (scanf("%d", &n) != 1) return 1; long long best = LLONG_MIN, x; for (int i = 0; i < n; i++) { scanf("%lld", &x); if (x > best) best = x; } printf("%lld\n", best); }

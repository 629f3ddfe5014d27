// Recursion without end: the stack grows until the memory limit stops it (MLE), which the
// format files under run-time error.
#include <cstdio>
volatile char sink;
long long down(long long n) {
    char pad[4096];
    pad[n % 4096] = (char)n;
    sink = pad[(n * 7) % 4096];
    return down(n + 1) + pad[0];
}
int main() { std::printf("%lld\n", down(0)); }

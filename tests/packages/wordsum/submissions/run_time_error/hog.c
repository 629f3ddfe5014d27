/* Allocates and touches memory past any limit: MLE, under run-time error. */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
int main(void) {
    for (size_t total = 0;; total += 64 << 20) {
        char *p = malloc(64 << 20);
        if (!p) return 3;
        memset(p, 1, 64 << 20);
    }
}

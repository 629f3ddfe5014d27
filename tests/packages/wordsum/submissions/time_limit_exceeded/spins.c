#include <stdio.h>
int main(void) {
    volatile unsigned long long i = 0;
    for (;;) i++;
}

/* Burns CPU while the interactor waits for a guess. */
int main(void) {
    volatile unsigned long x = 0;
    for (;;) x++;
}

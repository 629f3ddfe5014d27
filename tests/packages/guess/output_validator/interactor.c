/* Interactor: the secret x in [1, n] is in the test's input; the submission has 30 guesses.
   Run as: interactor input answer feedback_dir < submission's output > submission's input. */
#include <stdio.h>
#include <string.h>

static FILE *message;

static int reject(const char *why) {
    fprintf(message, "%s\n", why);
    return 43;
}

int main(int argc, char **argv) {
    if (argc < 4) return 1;
    FILE *in = fopen(argv[1], "r");
    char path[4096];
    snprintf(path, sizeof path, "%s/judgemessage.txt", argv[3]);
    message = fopen(path, "w");
    long n, x;
    if (!in || !message || fscanf(in, "%ld %ld", &n, &x) != 2) return 1;
    printf("%ld\n", n);
    fflush(stdout);
    for (int guesses = 1;; guesses++) {
        long g;
        if (scanf("%ld", &g) != 1) return reject("no guess: the submission stopped talking");
        if (g < 1 || g > n) return reject("guess out of range");
        if (guesses > 30) return reject("more than 30 guesses");
        if (g == x) {
            puts("=");
            fflush(stdout);
            fprintf(message, "found in %d guesses\n", guesses);
            return 42;
        }
        puts(g < x ? "<" : ">");
        fflush(stdout);
    }
}

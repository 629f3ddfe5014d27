/* The majority grader of graders/grade.py, as a folder program in C. */
#include <stdlib.h>
#include "results.h"
int main(int argc, char **argv) {
    if (argc < 3 || strcmp(argv[1], "majority") != 0) return 2;
    double points = atof(argv[2]), score = 0;
    int n = 0, accepted = 0;
    char first_error[8] = "";
    struct result r;
    while (read_result(&r)) {
        n++;
        if (strcmp(r.verdict, "AC") == 0) {
            accepted++;
            score += r.score == 1.0 ? points : r.score;
        } else if (!first_error[0]) {
            strcpy(first_error, r.verdict);
        }
    }
    if (2 * accepted > n) printf("AC %g\n", score);
    else printf("%s 0\n", first_error[0] ? first_error : "WA");
    return 0;
}

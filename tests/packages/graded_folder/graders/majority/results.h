/* One result of a group, as a grader reads it. */
#include <stdio.h>
#include <string.h>
struct result { char verdict[8]; double score; };
static int read_result(struct result *r) { return scanf("%7s %lf", r->verdict, &r->score) == 2; }

// A single-file output validator (legacy layout): the sum of the input's numbers, as one
// number, in any spacing.
#include "checklib.h"
#include <fstream>
#include <iostream>
#include <string>

int main(int argc, char **argv) {
    if (argc < 4) return 1;
    std::ifstream in(argv[1]);
    long long n, x, sum = 0;
    in >> n;
    for (long long i = 0; i < n && in >> x; i++) sum += x;
    long long got;
    if (!(std::cin >> got)) verdict(argv[3], false, "no number in the output");
    std::string extra;
    if (std::cin >> extra) verdict(argv[3], false, "more than one number in the output");
    if (got != sum) verdict(argv[3], false, ("expected " + std::to_string(sum) + ", got " + std::to_string(got)).c_str());
    verdict(argv[3], true, "");
}

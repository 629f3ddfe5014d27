/* Beside validate.cpp, as contest packages keep testlib.h: included by its plain name. */
#ifndef CHECKLIB_H
#define CHECKLIB_H
#include <cstdio>
#include <cstdlib>

[[noreturn]] inline void verdict(const char *feedback_dir, bool accepted, const char *why) {
    if (!accepted) {
        char path[4096];
        std::snprintf(path, sizeof path, "%s/judgemessage.txt", feedback_dir);
        if (FILE *f = std::fopen(path, "w")) {
            std::fputs(why, f);
            std::fclose(f);
        }
    }
    std::exit(accepted ? 42 : 43);
}
#endif

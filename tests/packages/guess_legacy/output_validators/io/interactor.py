"""Interactor: the secret x in [1, n] is in the test's input; the submission has 30 guesses.

Run as: interactor.py input answer feedback_dir. It trusts its guesses to be numbers: a
submission that says anything else makes it fail (a judge error), as a careless interactor
would.
"""
import os
import sys


def main():
    n, x = map(int, open(sys.argv[1]).read().split())
    message = open(sys.argv[3] + "/judgemessage.txt", "w")
    try:
        print(n, flush=True)
        for guesses in range(1, 1000):
            line = sys.stdin.readline()
            if not line:
                message.write("no guess: the submission stopped talking\n")
                return 43
            g = int(line)
            if g < 1 or g > n or guesses > 30:
                message.write("guess out of range, or more than 30 guesses\n")
                return 43
            if g == x:
                print("=", flush=True)
                message.write(f"found in {guesses} guesses\n")
                return 42
            print("<" if g < x else ">", flush=True)
    except BrokenPipeError:
        message.write("the submission went away\n")
        # Nothing more can reach it; don't fail again flushing at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 43
    return 43


sys.exit(main())

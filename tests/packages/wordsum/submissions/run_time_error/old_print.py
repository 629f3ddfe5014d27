#!/usr/bin/env python2
# A Python 2 jury solution, as contest archives keep them: judged as Python 2 or not at all.
import sys
data = sys.stdin.read().split()
print sum(int(x) for x in data[1:1 + int(data[0])])

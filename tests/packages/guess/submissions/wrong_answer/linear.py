# Counts up from 1: more than 30 guesses on every big test.
n = int(input())
g = 1
while True:
    print(g, flush=True)
    if input().strip() == "=":
        break
    g += 1

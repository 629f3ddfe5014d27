n = int(input().split()[0])
print(2 * n if n <= 10 else n)

# Wrong on the third test of each group (x = 9 and x = 18): each group is still accepted by
# majority, with 20 of 30 points.
x = int(input())
print(x * x + (1 if x % 9 == 0 else 0))

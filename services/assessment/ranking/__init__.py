"""Rankings (排名): ranked and graded boards, the three rates, published
rankings."""

"""The branch ladder (支部阶梯): each branch's rung and its history."""

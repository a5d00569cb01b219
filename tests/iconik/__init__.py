"""The iconik client's tests, split by module of b2_iconik.iconik."""

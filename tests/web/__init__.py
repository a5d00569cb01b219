"""The HTTP edge's tests (DESIGN §3), split by module of b2_iconik.edge."""

"""The custom-action admin CLI (b2_iconik.custom_actions), end to end and in its planning."""

"""b2-iconik-actions policy ...: policies as iconik automations, end to end."""

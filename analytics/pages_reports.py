"""Page routes (staff only)."""

urlpatterns: list = []

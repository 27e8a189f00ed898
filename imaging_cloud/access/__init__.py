"""Who is calling and what they may see: the token dependency and the SQL visibility filters."""

"""The de-identified index: studies, series and instances, and what each principal may see of them."""

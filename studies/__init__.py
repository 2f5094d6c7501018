"""Research studies: measurements that informed the product, kept outside the installed package. Run them from
a checkout's root, e.g. ``.venv/bin/python -m studies.design_study --steps 600``."""

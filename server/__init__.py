"""The composition root: processes assembled from `api` and `workers`, which never import each other."""

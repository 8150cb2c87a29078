# The resolver keeps no tables of its own: it reads templates and the catalogue, caches in Redis.

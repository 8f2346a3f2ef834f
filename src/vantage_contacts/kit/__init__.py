"""Small shared pieces: ids, time, normalisation, pagination, base schemas, responses."""

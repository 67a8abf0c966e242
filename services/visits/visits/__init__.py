"""visits: visit plans, visits, check-ins, photos (object keys and hashes), detail
fields, targets."""

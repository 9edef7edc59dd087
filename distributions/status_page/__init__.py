"""The public member status page: code + PIN in, eligibility, allowance and recalls out."""

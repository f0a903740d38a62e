"""Hardening at the edge: rate limits shared by every process (per API key, and failed
authentications per client address), trusted-proxy handling and the console's security
headers."""

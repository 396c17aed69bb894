"""Pure cryptographic functions shared by the card and the issuer host.

`emv`: EMV Book 2 key derivation, ISO 9797-1 MAC algorithm 3, ARQC and ARPC (method 1).
`purse`: the e-money purse load MACs, the canonical transaction record, ECDSA P-256 signatures and
the card certificate.
"""

"""Pure data encodings: CBOR, BARE, addresses, routes, multiaddrs."""

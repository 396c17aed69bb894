"""Every transport that carries APDUs between a KKS card and a terminal, in one place.

- `kks_emulator.transport.base`: the `Transport` protocol the EDC terminal talks through.
- `kks_emulator.transport.inprocess`: the card in the same Python process (no I/O).
- `kks_emulator.transport.vpcd`: the card side. Our own client of pcscd's vsmartcard driver
  (vpcd); it serves any object with `power_on/power_off/reset/transmit` as the PC/SC reader
  "Virtual PCD 00 0<slot>".
- `kks_emulator.transport.pcsc`: the terminal side. A pyscard transport that talks to any PC/SC
  reader (the virtual one above or a physical reader) and raises our typed errors.

Nothing here is imported by `kks_emulator.card`; the card stays sans-I/O.
"""

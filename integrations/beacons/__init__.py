"""Hardware beacons (SPEC §6): tags on cars, readers in zones.

services  pairing a tag with an RO; applying reader events (each through
          repairs.services.repair_order_move, so a beacon move is a move
          like any other and reaches OBS the same way)
api       POST /api/v1/beacon-events
views     the manager's pairing form on the RO detail
"""

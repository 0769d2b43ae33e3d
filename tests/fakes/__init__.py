"""Stand-ins for the servers Ocelot talks to, each a real server on a loopback port."""

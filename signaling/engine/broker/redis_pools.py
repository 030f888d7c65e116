"""Redis connection pools that make a burst of commands wait for a free connection.

redis-py's asyncio pools raise MaxConnectionsError once 100 commands are in flight; a
thousand sockets leaving at once (a server restart, a network blip) is such a burst.
"""

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

POOL_SIZE = 64
POOL_TIMEOUT = 10  # seconds a command waits for a connection before it fails


def waiting_pool(url: str) -> BlockingConnectionPool:
    return BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_TIMEOUT)


class WaitingRedisChannelLayer(RedisChannelLayer):
    """channels_redis with waiting pools (configured by URL: `hosts: [REDIS_URL]`)."""

    def create_pool(self, index):
        return waiting_pool(self.hosts[index]["address"])

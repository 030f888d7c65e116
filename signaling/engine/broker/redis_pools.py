"""Redis connection pools that make a burst of commands wait for a free connection.

redis-py's asyncio pools raise MaxConnectionsError once 100 commands are in flight; a
thousand sockets leaving at once (a server restart, a network blip) is such a burst.
"""

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

POOL_SIZE = 64
POOL_TIMEOUT = 10  # seconds a command waits for a connection before it fails


def waiting_pool(url: str, **options) -> BlockingConnectionPool:
    return BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=POOL_TIMEOUT, **options)


class WaitingRedisChannelLayer(RedisChannelLayer):
    """channels_redis with waiting pools (configured by URL: `hosts: [REDIS_URL]`)."""

    def create_pool(self, index):
        # Its receive waits in Redis for up to `brpop_timeout` (5 s), as long as
        # redis-py's default socket timeout: on a busy loop the empty answer comes too
        # late, and the receive fails (an error logged, and a second's pause to retry).
        return waiting_pool(self.hosts[index]["address"], socket_timeout=self.brpop_timeout + 5)

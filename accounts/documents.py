"""The User document: the original Mongoose `users` collection, with hashed tokens."""

import mongoengine as me


class AuthToken(me.EmbeddedDocument):
    """One login session. Only a SHA-256 digest of the token is stored, so a database
    leak yields no usable token."""

    digest = me.StringField(required=True)
    expiresAt = me.DateTimeField(required=True)
    createdAt = me.DateTimeField(required=True)


class User(me.Document):
    name = me.StringField(required=True)
    username = me.StringField(required=True, unique=True)
    password = me.StringField(required=True)  # bcrypt hash
    # Several sessions per user (a phone and a laptop), newest last, capped at login.
    tokens = me.EmbeddedDocumentListField(AuthToken, default=list)

    meta = {
        "collection": "users",
        # Documents written by the Node backend carry `token` (in clear) and `__v`:
        # ignore them rather than fail to load the user.
        "strict": False,
        "indexes": ["tokens.digest"],
    }

    def __str__(self):
        return self.username

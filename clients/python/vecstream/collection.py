"""Collection: a handle on one collection of either client, so that calls need no name.

    docs = client.collection("docs")
    docs.upsert([(1, [0.1, 0.2, 0.3])])
    hits = docs.search([0.1, 0.2, 0.3], k=5)
"""


class Collection:
    """Binds a collection name to a Client or a GrpcClient; each method is the client's method
    of the same name with the collection filled in."""

    def __init__(self, client, name):
        self.client = client
        self.name = name

    def describe(self):
        return self.client.describe_collection(self.name)

    def drop(self):
        return self.client.drop_collection(self.name)

    def upsert(self, points, **kwargs):
        return self.client.upsert(self.name, points, **kwargs)

    def delete(self, ids=None, filter=None):
        return self.client.delete(self.name, ids=ids, filter=filter)

    def get(self, id):
        return self.client.get(self.name, id)

    def search(self, vector, **kwargs):
        return self.client.search(self.name, vector, **kwargs)

    def search_batch(self, queries, **kwargs):
        return self.client.search_batch(self.name, queries, **kwargs)

    def __repr__(self):
        return f"Collection({self.name!r})"

"""The models a device serves: loading, checking, caching, refusing and swapping them."""

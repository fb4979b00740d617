"""Where the captured rows are, and the contract that types them: the container client from a
connection string or a container URL, and the contract of the model published last."""

from __future__ import annotations

from azure.storage.blob import ContainerClient, LinearRetry

from modelcontract.pointer import PointerFormatError, read_pointer
from trainer.contract import Contract
from trainer.model_file import check_model_bytes
from trainer.naming import check_name
from trainer.publish import DEFAULT_CONTAINER
from trainer.storage import StorageError, StorageOptions, connect


def container_client(
    container: str = DEFAULT_CONTAINER,
    connection_string: str | None = None,
    container_url: str | None = None,
    options: StorageOptions | None = None,
) -> ContainerClient:
    """The container, from a connection string (with its AccountKey, as ``publish`` uses) or
    a container URL with a SAS that may read and list (``sp=rl``)."""
    options = options or StorageOptions()
    if container_url is None:
        return connect(connection_string, options).get_container_client(container)
    try:
        return ContainerClient.from_container_url(
            container_url,
            retry_policy=LinearRetry(backoff=1, retry_total=options.retries, random_jitter_range=0),
            connection_timeout=options.connect_timeout,
            read_timeout=options.read_timeout,
        )
    except ValueError as exc:
        raise StorageError(f"the container URL is not valid: {exc}") from None


def latest_contract(client: ContainerClient, name: str) -> tuple[Contract, str]:
    """The contract of the model ``name`` published last: the one ``<name>/latest.json`` points
    at, else the newest ``<name>/*.onnx``; and the blob it came from."""
    check_name(name)
    pointer = client.get_blob_client(f"{name}/latest.json")
    blob: str | None = None
    if pointer.exists():
        try:
            blob = read_pointer(pointer.download_blob().readall()).blob
        except PointerFormatError as exc:
            raise StorageError(f"{name}/latest.json is not a valid pointer: {exc}") from None
    else:
        listed = client.list_blobs(name_starts_with=f"{name}/")
        models = [b for b in listed if b.name.endswith(".onnx")]
        if not models:
            raise StorageError(
                f"no model {name!r} is published in container {client.container_name!r}; "
                "give the model file (--model)"
            )
        blob = max(models, key=lambda b: b.last_modified).name
    data = client.get_blob_client(blob).download_blob().readall()
    return check_model_bytes(data, blob).contract, blob

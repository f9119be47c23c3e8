"""The event contract (DESIGN §5): topics, JSON Schemas and examples as data, validated at the edge."""

from services.common.contract.registry import (
    Contract,
    ContractViolation,
    EventTypeSpec,
    FieldError,
    TopicSpec,
    load_contract,
)

__all__ = ["Contract", "ContractViolation", "EventTypeSpec", "FieldError", "TopicSpec", "load_contract"]

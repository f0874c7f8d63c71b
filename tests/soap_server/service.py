"""The SOAP service: a few canned customers and items, orders, and an echo.

Plain spyne with document/literal wrapped operations and simple types, so zeep can call every
operation with keyword arguments. Nothing here knows about HTTP or tokens (see ``app``).
"""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

from spyne import Application, Array, ComplexModel, Fault, Integer, Service, Unicode, rpc
from spyne import Decimal as XsdDecimal
from spyne.protocol.soap import Soap11, Soap12

TNS = "urn:connectit:test:orders"
# "ConnectIT test orders", written as an NCName: spyne uses the application name for the WSDL's
# portType, binding and port, and a name with spaces makes binding="tns:..." an invalid QName.
APP_NAME = "ConnectITTestOrders"

# Mandatory in the WSDL (minOccurs=1, not nillable), so zeep refuses a call that leaves one out.
RequiredInt = Integer(min_occurs=1, nillable=False)
RequiredText = Unicode(min_occurs=1, nillable=False)

CUSTOMERS = {
    1: ("Contoso Ltd", "Redmond"),
    2: ("Fabrikam Inc", "Atlanta"),
    3: ("Adatum Corporation", "Oslo"),
}
ITEMS = [
    ("SKU-100", "Widget", Decimal("9.99")),
    ("SKU-200", "Gadget", Decimal("24.50")),
    ("SKU-300", "Gizmo", Decimal("105.00")),
]
FIRST_ORDER_ID = 1001


class Customer(ComplexModel):
    __namespace__ = TNS
    id = Integer
    name = Unicode
    city = Unicode


class Item(ComplexModel):
    __namespace__ = TNS
    sku = Unicode
    name = Unicode
    price = XsdDecimal


class OrderConfirmation(ComplexModel):
    __namespace__ = TNS
    order_id = Integer
    status = Unicode


class _OrderNumbers:
    """Order ids count up from FIRST_ORDER_ID; reset() restarts them so tests can assert ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._ids = itertools.count(FIRST_ORDER_ID)

    def next(self) -> int:
        with self._lock:
            return next(self._ids)


order_numbers = _OrderNumbers()


def _customer(customer_id: int) -> Customer:
    if customer_id not in CUSTOMERS:
        raise Fault(faultcode="Client.NotFound", faultstring=f"Customer {customer_id} not found")
    name, city = CUSTOMERS[customer_id]
    return Customer(id=customer_id, name=name, city=city)


class OrdersService(Service):
    @rpc(RequiredInt, _returns=Customer)
    def GetCustomer(ctx, customer_id):
        return _customer(customer_id)

    @rpc(RequiredInt, _returns=Array(Item))
    def ListItems(ctx, page):
        # One page of canned items; any other page is empty, which ends a paging loop.
        if page != 1:
            return []
        return [Item(sku=sku, name=name, price=price) for sku, name, price in ITEMS]

    @rpc(RequiredInt, RequiredText, RequiredInt, _returns=OrderConfirmation)
    def CreateOrder(ctx, customer_id, sku, quantity):
        if quantity <= 0:
            raise Fault(
                faultcode="Client.ValidationError",
                faultstring=f"Quantity must be positive, got {quantity}",
            )
        _customer(customer_id)
        return OrderConfirmation(order_id=order_numbers.next(), status="CREATED")

    @rpc(RequiredText, _returns=Unicode)
    def Echo(ctx, text):
        return text


def build_application(soap_version: str) -> Application:
    """The same service for SOAP "1.1" or "1.2"; each gets its own WSDL and endpoint."""
    protocol = {"1.1": Soap11, "1.2": Soap12}[soap_version]
    return Application(
        [OrdersService],
        tns=TNS,
        name=APP_NAME,
        # lxml validation checks each request against the WSDL's schema before dispatch.
        in_protocol=protocol(validator="lxml"),
        out_protocol=protocol(),
    )

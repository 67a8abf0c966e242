"""nameko entrypoints of the service_tickets service: validate, call one use case, return
a dict. (The gRPC API runs the same use cases in its own process: grpc_server.py.)"""
from crmkit.context import CallerContext, require_login
from crmkit.database import Database
from crmkit.entrypoints import rpc, timer
from crmkit.health import database_ready
from crmkit.idempotency import idempotent
from crmkit.pagination import PageQuerySchema
from crmkit.validation import load
from service_tickets import audit, consumers, dispatch, parts, parts_orders, schemas, tickets
from service_tickets.settings import ticket_settings


class ServiceTicketsService:
    name = "service_tickets"

    db = Database()
    caller = CallerContext()

    def _login(self) -> None:
        require_login(self.caller)

    @rpc(read_only=True)
    def health(self):
        return {"service": self.name, "database": database_ready(self.db)}

    # --- consumers and products -------------------------------------------------------------
    @rpc
    @idempotent("create_consumer")
    def create_consumer(self, data):
        self._login()
        return consumers.create_consumer(self.db, load(schemas.ConsumerCreateSchema(), data))

    @rpc(read_only=True)
    def get_consumer(self, consumer_id):
        self._login()
        return consumers.get_consumer(self.db, consumer_id)

    @rpc(read_only=True)
    def list_consumers(self, query=None):
        self._login()
        return consumers.list_consumers(self.db, load(schemas.ConsumerListQuerySchema(),
                                                      query or {}))

    @rpc
    @idempotent("register_product")
    def register_product(self, consumer_id, data):
        self._login()
        return consumers.register_product(self.db, consumer_id,
                                          load(schemas.ProductCreateSchema(), data))

    @rpc(read_only=True)
    def get_product(self, product_id):
        self._login()
        return consumers.get_product(self.db, product_id)

    @rpc(read_only=True)
    def list_products(self, query=None):
        self._login()
        return consumers.list_products(self.db, load(schemas.ProductListQuerySchema(),
                                                     query or {}))

    @rpc
    def change_product(self, product_id, data):
        self._login()
        return consumers.change_product(self.db, product_id,
                                        load(schemas.ProductChangeSchema(), data))

    @rpc(read_only=True)
    def get_product_history(self, product_id, query=None):
        self._login()
        return consumers.product_history(self.db, product_id,
                                         load(PageQuerySchema(), query or {}))

    # --- service centres and dispatch rules ---------------------------------------------------
    @rpc
    @idempotent("create_service_center")
    def create_service_center(self, data):
        self._login()
        return dispatch.create_center(self.db, load(schemas.ServiceCenterCreateSchema(), data))

    @rpc(read_only=True)
    def list_service_centers(self, query=None):
        self._login()
        return dispatch.list_centers(self.db, load(PageQuerySchema(), query or {}))

    @rpc
    @idempotent("create_dispatch_rule")
    def create_dispatch_rule(self, data):
        self._login()
        return dispatch.create_rule(self.db, load(schemas.DispatchRuleCreateSchema(), data))

    @rpc(read_only=True)
    def list_dispatch_rules(self, query=None):
        self._login()
        return dispatch.list_rules(self.db, load(PageQuerySchema(), query or {}))

    # --- tickets ------------------------------------------------------------------------------
    @rpc
    @idempotent("open_ticket")
    def open_ticket(self, data):
        self._login()
        return tickets.open_ticket(self.db, load(schemas.TicketCreateSchema(), data))

    @rpc(read_only=True)
    def get_ticket(self, ticket_id):
        self._login()
        return tickets.get_ticket(self.db, ticket_id)

    @rpc(read_only=True)
    def list_tickets(self, query=None):
        self._login()
        return tickets.list_tickets(self.db, load(schemas.TicketListQuerySchema(), query or {}))

    @rpc
    @idempotent("transition_ticket")
    def transition_ticket(self, ticket_id, data):
        self._login()
        return tickets.transition_ticket(self.db, ticket_id,
                                         load(schemas.TransitionSchema(), data))

    @rpc
    @idempotent("add_worklog")
    def add_worklog(self, ticket_id, data):
        self._login()
        return tickets.add_worklog(self.db, ticket_id, load(schemas.WorkLogCreateSchema(), data))

    @rpc(read_only=True)
    def list_worklog(self, ticket_id, query=None):
        self._login()
        return tickets.list_worklog(self.db, ticket_id, load(PageQuerySchema(), query or {}))

    @rpc(read_only=True)
    def get_ticket_history(self, ticket_id, query=None):
        self._login()
        return tickets.ticket_history(self.db, ticket_id, load(PageQuerySchema(), query or {}))

    @rpc(read_only=True)
    def get_ticket_survey(self, ticket_id):
        self._login()
        return tickets.get_survey(self.db, ticket_id)

    @rpc
    def answer_survey(self, survey_id, data):
        self._login()
        return tickets.answer_survey(self.db, survey_id, load(schemas.SurveyAnswerSchema(), data))

    @timer(interval=ticket_settings().sla_sweep_s)
    def sweep_sla(self):
        tickets.mark_breaches(self.db)

    # --- parts, warehouses, stock -------------------------------------------------------------
    @rpc
    @idempotent("create_part")
    def create_part(self, data):
        self._login()
        return parts.create_part(self.db, load(schemas.PartCreateSchema(), data))

    @rpc(read_only=True)
    def list_parts(self, query=None):
        self._login()
        return parts.list_parts(self.db, load(schemas.PartListQuerySchema(), query or {}))

    @rpc
    @idempotent("create_warehouse")
    def create_warehouse(self, data):
        self._login()
        return parts.create_warehouse(self.db, load(schemas.WarehouseCreateSchema(), data))

    @rpc(read_only=True)
    def list_warehouses(self, query=None):
        self._login()
        return parts.list_warehouses(self.db, load(PageQuerySchema(), query or {}))

    @rpc(read_only=True)
    def list_stocks(self, query=None):
        self._login()
        return parts.list_stocks(self.db, load(schemas.StockQuerySchema(), query or {}))

    @rpc
    @idempotent("adjust_stock")
    def adjust_stock(self, data):
        self._login()
        return parts.adjust_stock(self.db, load(schemas.StockAdjustmentSchema(), data))

    @rpc(read_only=True)
    def list_stock_movements(self, query=None):
        self._login()
        return parts.list_movements(self.db, load(schemas.StockMovementQuerySchema(),
                                                  query or {}))

    # --- parts orders and returns ---------------------------------------------------------------
    @rpc
    @idempotent("submit_parts_order")
    def submit_parts_order(self, data):
        self._login()
        return parts_orders.submit_order(self.db, load(schemas.PartsOrderCreateSchema(), data))

    @rpc(read_only=True)
    def get_parts_order(self, order_id):
        self._login()
        return parts_orders.get_order(self.db, order_id)

    @rpc(read_only=True)
    def list_parts_orders(self, query=None):
        self._login()
        return parts_orders.list_orders(self.db, load(schemas.PartsOrderListQuerySchema(),
                                                      query or {}))

    @rpc
    def transition_parts_order(self, order_id, data):
        self._login()
        return parts_orders.transition_order(self.db, order_id,
                                             load(schemas.OrderTransitionSchema(), data))

    @rpc
    @idempotent("create_parts_return")
    def create_parts_return(self, data):
        self._login()
        return parts_orders.create_return(self.db, load(schemas.PartsReturnCreateSchema(), data))

    @rpc(read_only=True)
    def list_parts_returns(self, query=None):
        self._login()
        return parts_orders.list_returns(self.db, load(PageQuerySchema(), query or {}))

    @rpc(read_only=True)
    def list_audit(self, query=None):
        self._login()
        return audit.list_audit(self.db, load(schemas.AuditQuerySchema(), query or {}))

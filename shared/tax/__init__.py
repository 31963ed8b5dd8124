"""Tax calculation: a pure engine over a rate catalog (see README.md in this folder).

catalog = load_seed_catalog()                      # or RateCatalog(...) from Firestore
request = TaxCalculationRequest.model_validate_json(body, strict=True)
result = calculate(request.to_document(), catalog)
result.to_json()
"""

from shared.tax.catalog import RateCatalog
from shared.tax.document import Buyer, DocumentLine, ExemptionCertificate, Seller, TaxDocument
from shared.tax.engine import calculate
from shared.tax.model import (
    EU_MEMBER_STATES,
    CategoryKind,
    DocumentType,
    Jurisdiction,
    PriceMode,
    Reason,
    RoundingScope,
    Source,
    TaxCategory,
    TaxDefinition,
    TaxRate,
    TaxRounding,
)
from shared.tax.place_of_supply import SupplyType
from shared.tax.requests import (
    BuyerIn,
    ExemptionCertificateIn,
    LineIn,
    MoneyIn,
    SellerIn,
    TaxCalculationRequest,
)
from shared.tax.result import (
    BreakdownRow,
    JurisdictionTotal,
    LineResult,
    LineTax,
    ReverseCharge,
    TaxCalculation,
    Withholding,
    WithholdingRow,
)
from shared.tax.rounding import allocate
from shared.tax.seed import SEED_PATH, catalog_from_seed, load_seed_catalog
from shared.tax.vat_ids import (
    OfflineVatNumberChecker,
    TaxIdCheck,
    TaxIdStatus,
    VatNumberChecker,
    check_vat_number,
)


def calculate_request(request: TaxCalculationRequest, catalog: RateCatalog) -> TaxCalculation:
    """Validate a request's values and calculate it: what a route handler calls."""
    return calculate(request.to_document(), catalog)


__all__ = [
    "EU_MEMBER_STATES",
    "SEED_PATH",
    "BreakdownRow",
    "Buyer",
    "BuyerIn",
    "CategoryKind",
    "DocumentLine",
    "DocumentType",
    "ExemptionCertificate",
    "ExemptionCertificateIn",
    "Jurisdiction",
    "JurisdictionTotal",
    "LineIn",
    "LineResult",
    "LineTax",
    "MoneyIn",
    "OfflineVatNumberChecker",
    "PriceMode",
    "RateCatalog",
    "Reason",
    "ReverseCharge",
    "RoundingScope",
    "Seller",
    "SellerIn",
    "Source",
    "SupplyType",
    "TaxCalculation",
    "TaxCalculationRequest",
    "TaxCategory",
    "TaxDefinition",
    "TaxDocument",
    "TaxIdCheck",
    "TaxIdStatus",
    "TaxRate",
    "TaxRounding",
    "VatNumberChecker",
    "Withholding",
    "WithholdingRow",
    "allocate",
    "calculate",
    "calculate_request",
    "catalog_from_seed",
    "check_vat_number",
    "load_seed_catalog",
]

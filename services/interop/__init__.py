"""What payers and clearinghouses exchange (accumulation.md section 5): X12 271 and FHIR
CoverageEligibilityResponse out, payer reports in and reconciled against the ledger."""

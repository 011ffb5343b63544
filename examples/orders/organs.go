package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/necrostack/necrostack/core"
)

// Order is what the chain passes along.
type Order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

var (
	OrderPlaced  = core.NewKind[Order]("ORDER_PLACED")
	OrderValid   = core.NewKind[Order]("ORDER_VALID")
	OrderCharged = core.NewKind[Order]("ORDER_CHARGED")
	errNoAmount  = errors.New("an order needs an amount")
)

// Validator refuses orders without an amount.
type Validator struct{}

func (Validator) Listens() []string { return []string{OrderPlaced.Type()} }

func (Validator) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	o, err := OrderPlaced.Decode(e)
	if err != nil || o.Amount <= 0 {
		return nil, core.Permanent(errors.Join(err, errNoAmount))
	}
	next, err := OrderValid.New(o)
	return core.Emit(next), err
}

// Charger charges a valid order.
type Charger struct{}

func (Charger) Listens() []string { return []string{OrderValid.Type()} }

func (Charger) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	o, err := OrderValid.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	next, err := OrderCharged.New(o)
	return core.Emit(next), err
}

// Shipper ships a charged order, and says so on Out.
type Shipper struct{ Out io.Writer }

func (Shipper) Listens() []string { return []string{OrderCharged.Type()} }

func (s Shipper) Handle(_ context.Context, e core.Event) ([]core.Event, error) {
	o, err := OrderCharged.Decode(e)
	if err != nil {
		return nil, core.Permanent(err)
	}
	_, err = fmt.Fprintf(s.Out, "shipped %s\n", o.ID)
	return nil, err
}
